// Hinge leaf with knuckles and countersunk holes. CC0, written for customs.
$fn = 32;
difference() {
  union() {
    cube([40, 30, 2]);
    for (i = [0:2:4]) translate([0, i*6, 2]) rotate([-90,0,0]) cylinder(r = 3, h = 6);
  }
  for (i = [0:2:4]) translate([0, i*6 - 1, 2]) rotate([-90,0,0]) cylinder(r = 1.2, h = 8);
  for (p = [[15,8],[30,8],[15,22],[30,22]]) translate([p[0],p[1],-1]) cylinder(d1 = 3, d2 = 6, h = 3.1);
}
