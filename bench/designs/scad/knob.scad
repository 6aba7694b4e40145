// Knurled control knob with a D-shaft hole. CC0, written for customs.
$fn = 48;
difference() {
  union() {
    cylinder(d = 30, h = 15);
    for (i = [0:17]) rotate(i * 20) translate([15, 0, 0]) cylinder(d = 3, h = 15, $fn = 12);
    translate([0,0,15]) cylinder(d1 = 30, d2 = 24, h = 4);
  }
  translate([0,0,-1]) difference() { cylinder(d = 6, h = 12); translate([1.5,-5,0]) cube([10,10,13]); }
}
