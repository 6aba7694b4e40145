// Hex bolt with a ringed shank. CC0, written for customs.
$fn = 32;
cylinder(d = 13, h = 5, $fn = 6);
translate([0,0,5]) cylinder(d = 8, h = 30);
for (z = [12:2:34]) translate([0,0,z]) cylinder(d1 = 8, d2 = 8.8, h = 1);
