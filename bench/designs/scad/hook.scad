// Wall hook: plate with screw holes and a curved arm. CC0, written for customs.
$fn = 40;
difference() {
  translate([-10,0,0]) cube([20, 4, 50]);
  for (z = [10, 40]) translate([0,-1,z]) rotate([-90,0,0]) cylinder(d = 4, h = 6);
}
translate([0, 14, 10]) rotate([0,90,0]) rotate_extrude(angle = 180) translate([10,0]) circle(d = 6);
translate([0, 4, 10]) rotate([-90,0,0]) cylinder(d = 6, h = 1);
translate([-3, 24, 10]) cube([6, 3, 12]);
