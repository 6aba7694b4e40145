// Block with three through holes of different sizes. CC0, written for customs.
$fn = 36;
difference() {
  cube([50, 30, 20]);
  translate([10, 15, -1]) cylinder(d = 8, h = 22);
  translate([25, 15, -1]) cylinder(d = 5, h = 22);
  translate([40, 15, -1]) cylinder(d = 10, h = 22);
}
