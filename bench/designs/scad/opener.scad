// Bottle opener. CC0, written for customs.
$fn = 48;
difference() {
  hull() { cylinder(d = 36, h = 4); translate([70,0,0]) cylinder(d = 18, h = 4); }
  translate([0,0,-1]) cylinder(d = 24, h = 6);
  translate([8,-20,-1]) cube([20,16,6]);
  translate([70,0,-1]) cylinder(d = 6, h = 6);
}
