// Cup with a handle. CC0, written for customs.
$fn = 48;
difference() { cylinder(d = 60, h = 70); translate([0,0,4]) cylinder(d = 54, h = 70); }
translate([30, 0, 35]) rotate([90,0,0]) rotate_extrude(angle = 360) translate([15,0]) circle(d = 7, $fn = 16);
