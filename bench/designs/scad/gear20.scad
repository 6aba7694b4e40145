// Spur gear, 20 teeth, hub and lightening holes. CC0, written for customs.
$fn = 40;
teeth = 20; m = 2; width = 6;
module tooth() { polygon([[-1.2,0],[1.2,0],[0.6,2.4],[-0.6,2.4]]); }
difference() {
  union() {
    linear_extrude(width) union() {
      circle(r = m * teeth / 2 - 1);
      for (i = [0:teeth-1]) rotate(i * 360 / teeth) translate([0, m * teeth / 2 - 1.2]) scale(m/2) tooth();
    }
    cylinder(r = 7, h = width + 6);
  }
  translate([0,0,-1]) cylinder(r = 4, h = width + 10);
  for (i = [0:3]) rotate(i * 90 + 45) translate([12,0,-1]) cylinder(r = 3.5, h = width + 2);
}
