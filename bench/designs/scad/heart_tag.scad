// Heart-shaped tag with a hole. CC0, written for customs.
$fn = 48;
difference() {
  linear_extrude(3) union() { translate([-8,0]) circle(r = 10); translate([8,0]) circle(r = 10); polygon([[-17.5,-5],[17.5,-5],[0,-25]]); }
  translate([0,2,-1]) cylinder(d = 4, h = 5);
}
