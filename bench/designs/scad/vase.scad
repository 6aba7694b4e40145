// Vase from a rotated profile. CC0, written for customs.
$fn = 64;
rotate_extrude() polygon([[0,0],[25,0],[32,20],[30,45],[18,70],[20,90],[18,90],[16,70],[28,45],[30,20],[23,2],[0,2]]);
