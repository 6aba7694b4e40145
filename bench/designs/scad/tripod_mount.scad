// Camera tripod plate with a slot and a screw boss. CC0, written for customs.
$fn = 36;
difference() {
  union() { cube([60, 40, 6]); translate([30,20,-8]) cylinder(d = 16, h = 8); }
  translate([15, 16, -1]) cube([30, 8, 8]);
  translate([30,20,-9]) cylinder(d = 6.35, h = 20);
}
