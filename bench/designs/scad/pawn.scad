// Chess pawn. CC0, written for customs.
$fn = 48;
rotate_extrude() polygon([[0,0],[14,0],[14,3],[11,5],[11,7],[7,10],[5,22],[8,24],[8,26],[4,27],[0,27]]);
translate([0,0,33]) sphere(r = 7);
