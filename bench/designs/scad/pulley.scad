// V-belt pulley with a bore. CC0, written for customs.
$fn = 60;
difference() {
  rotate_extrude() polygon([[4,0],[20,0],[20,2],[15,7],[20,12],[20,14],[4,14]]);
  translate([0,0,-1]) cylinder(d = 8, h = 16);
}
