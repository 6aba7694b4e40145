// Spur gear, 12 teeth, with a keyed bore. CC0, written for customs.
$fn = 40;
teeth = 12; m = 2; width = 8;
module tooth() { polygon([[-1.2,0],[1.2,0],[0.6,2.4],[-0.6,2.4]]); }
difference() {
  linear_extrude(width) union() {
    circle(r = m * teeth / 2 - 1);
    for (i = [0:teeth-1]) rotate(i * 360 / teeth) translate([0, m * teeth / 2 - 1.2]) scale(m/2) tooth();
  }
  translate([0,0,-1]) cylinder(r = 3, h = width + 2);
  translate([2,-1,-1]) cube([2,2,width+2]);
}
