// Pipe flange with a bolt circle and a raised face. CC0, written for customs.
$fn = 64;
difference() {
  union() { cylinder(d = 100, h = 10); cylinder(d = 60, h = 25); }
  translate([0,0,-1]) cylinder(d = 40, h = 30);
  for (i = [0:7]) rotate(i * 45) translate([40,0,-1]) cylinder(d = 9, h = 12, $fn = 24);
}
