// Robot figurine from blocks. CC0, written for customs.
$fn = 24;
translate([-10,-6,20]) cube([20,12,24]);        // body
translate([-7,-6,46]) cube([14,12,12]);         // head
translate([-3,-1,44]) cube([6,2,2]);            // neck
for (s = [-1,1]) translate([s*6-2.5,-3,0]) cube([5,6,20]);   // legs
for (s = [-1,1]) translate([s*13-2,-2,26]) rotate([0,s*20,0]) cube([4,4,18]); // arms
translate([0,0,58]) cylinder(d = 2, h = 6); translate([0,0,64]) sphere(d = 4);
