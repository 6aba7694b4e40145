// Snowman figurine from spheres and a cone. CC0, written for customs.
$fn = 40;
sphere(r = 20);
translate([0,0,28]) sphere(r = 14);
translate([0,0,48]) sphere(r = 10);
translate([0,9,48]) rotate([-90,0,0]) cylinder(r1 = 2, r2 = 0, h = 8);
translate([0,0,56]) cylinder(r = 9, h = 2);
translate([0,0,58]) cylinder(r = 6, h = 9);
