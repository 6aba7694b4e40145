// Chess rook with battlements. CC0, written for customs.
$fn = 48;
difference() {
  rotate_extrude() polygon([[0,0],[15,0],[15,4],[12,6],[9,10],[9,30],[12,32],[12,42],[0,42]]);
  for (i = [0:5]) rotate(i * 60) translate([0,-2,36]) cube([14, 4, 7]);
  translate([0,0,38]) cylinder(r = 8, h = 6);
}
