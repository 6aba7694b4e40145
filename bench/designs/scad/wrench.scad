// Open-end spanner. CC0, written for customs.
$fn = 40;
difference() {
  union() {
    hull() { cylinder(d = 22, h = 5); translate([90,0,0]) cylinder(d = 16, h = 5); }
  }
  translate([-4,0,-1]) rotate(15) translate([-12,-6.5,0]) cube([16,13,7]);
  translate([90,0,-1]) cylinder(d = 10, h = 7, $fn = 6);
  translate([45,0,-1]) hull() { translate([-15,0,0]) cylinder(d=4,h=7); translate([15,0,0]) cylinder(d=4,h=7); }
}
