// Electronics enclosure: hollow box, lid lip, cable hole. CC0, written for customs.
$fn = 30;
difference() {
  cube([70, 50, 30]);
  translate([2, 2, 2]) cube([66, 46, 30]);
  translate([-1, 25, 15]) rotate([0,90,0]) cylinder(d = 8, h = 4);
}
translate([1,1,28]) difference() { cube([68,48,4]); translate([1,1,-1]) cube([66,46,6]); }
