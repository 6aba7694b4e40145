// Rocket figurine: body, nose cone and three fins. CC0, written for customs.
$fn = 48;
cylinder(d = 20, h = 60);
translate([0,0,60]) cylinder(d1 = 20, d2 = 0, h = 25);
for (i = [0:2]) rotate(i * 120) translate([8,-1,0]) linear_extrude(2) polygon([[0,0],[14,-4],[14,6],[0,24]]) ;
translate([0,0,-5]) cylinder(d1 = 8, d2 = 14, h = 5);
