// Phone stand: a bent profile extruded, with a cable slot. CC0, written for customs.
$fn = 24;
difference() {
  rotate([90,0,0]) linear_extrude(70, center = true) polygon([[0,0],[80,0],[80,4],[30,4],[60,70],[56,72],[24,6],[10,6],[10,16],[6,16],[6,4],[0,4]]);
  translate([40,0,-1]) cube([14,20,10], center = true);
}
