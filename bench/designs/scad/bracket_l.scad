// L bracket with two holes on each leg and a gusset. CC0, written for customs.
$fn = 32;
difference() {
  union() {
    cube([60, 20, 4]);
    cube([4, 20, 40]);
    translate([4,8,4]) rotate([90,0,90]) linear_extrude(4) polygon([[0,0],[20,0],[0,20]]);
  }
  for (x = [20, 45]) translate([x, 10, -1]) cylinder(d = 5, h = 6);
  for (z = [18, 32]) translate([-1, 10, z]) rotate([0,90,0]) cylinder(d = 5, h = 6);
}
