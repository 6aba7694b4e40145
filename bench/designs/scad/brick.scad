// Toy building brick 2x4 with studs and tubes. CC0, written for customs.
$fn = 32;
p = 8;
difference() { cube([4*p, 2*p, 9.6]); translate([1.2,1.2,-1]) cube([4*p-2.4, 2*p-2.4, 9.6]); }
for (x = [0:3], y = [0:1]) translate([p/2 + x*p, p/2 + y*p, 9.6]) cylinder(d = 4.8, h = 1.7);
for (x = [1:3]) translate([x*p, p, 0]) difference() { cylinder(d = 6.5, h = 8.6); translate([0,0,-1]) cylinder(d = 4.8, h = 10); }
