// Hexagon nut with chamfers. CC0, written for customs.
$fn = 40;
difference() {
  intersection() {
    cylinder(d = 15, h = 6.5, $fn = 6);
    union() { cylinder(d1 = 12.5, d2 = 20, h = 3.25); translate([0,0,3.25]) cylinder(d1 = 20, d2 = 12.5, h = 3.25); }
  }
  translate([0,0,-1]) cylinder(d = 8, h = 9);
}
