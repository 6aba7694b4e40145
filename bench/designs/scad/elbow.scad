// Pipe elbow, 90 degrees, with flanged ends. CC0, written for customs.
$fn = 48;
rotate_extrude(angle = 90) translate([30,0]) difference() { circle(r = 10); circle(r = 8); }
translate([30,0,0]) rotate([90,0,0]) difference() { cylinder(r = 13, h = 3); translate([0,0,-1]) cylinder(r = 8, h = 5); }
rotate(90) translate([30,0,0]) rotate([-90,0,0]) difference() { cylinder(r = 13, h = 3); translate([0,0,-1]) cylinder(r = 8, h = 5); }
