// Coil spring as a twisted extrusion. CC0, written for customs.
$fn = 24;
linear_extrude(height = 40, twist = 1440, slices = 160) translate([10,0]) circle(r = 1.5);
cylinder(r = 11.5, h = 1.5);
translate([0,0,38.5]) cylinder(r = 11.5, h = 1.5);
