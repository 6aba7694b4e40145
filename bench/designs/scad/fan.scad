// Fan rotor: hub and five twisted blades. CC0, written for customs.
$fn = 40;
difference() { cylinder(d = 16, h = 10); translate([0,0,-1]) cylinder(d = 4, h = 12); }
for (i = [0:4]) rotate(i * 72) linear_extrude(10, twist = 30, slices = 6) translate([7,-1]) square([28, 2]);
