// Two-blade drone propeller. CC0, written for customs.
$fn = 40;
difference() { cylinder(d = 10, h = 7); translate([0,0,-1]) cylinder(d = 5, h = 9); }
for (s = [0, 180]) rotate(s) linear_extrude(height = 6, twist = -25, slices = 8)
  translate([4, 0]) scale([1, 0.18]) circle(d = 60, $fn = 60);
