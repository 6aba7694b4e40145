// Star ornament with a hanging loop. CC0, written for customs.
$fn = 24;
linear_extrude(5) polygon([for (i = [0:9]) let(r = i % 2 ? 12 : 30) [r*cos(i*36+90), r*sin(i*36+90)]]);
translate([0,34,2.5]) rotate_extrude() translate([4,0]) circle(r = 1.2);
