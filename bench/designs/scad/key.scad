// Flat key with a bow, blade and bit. CC0, written for customs.
$fn = 40;
difference() { cylinder(d = 25, h = 3); translate([0,0,-1]) cylinder(d = 8, h = 5); }
translate([11,-3,0]) cube([45, 6, 3]);
translate([40,-10,0]) cube([4, 8, 3]);
translate([49,-9,0]) cube([5, 7, 3]);
