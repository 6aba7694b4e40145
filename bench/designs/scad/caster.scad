// Furniture caster wheel with an axle hole and fork. CC0, written for customs.
$fn = 48;
difference() { rotate([90,0,0]) cylinder(d = 40, h = 14, center = true); rotate([90,0,0]) cylinder(d = 6, h = 20, center = true); }
for (s = [-1,1]) translate([-6, s*9 - 1.5, 0]) cube([12, 3, 30]);
translate([-10,-10.5,28]) cube([20, 21, 4]);
translate([0,0,32]) cylinder(d = 8, h = 10);
