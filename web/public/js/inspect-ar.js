// AR mode of the inspect page, only where the browser has WebXR's
// immersive-ar with hit-test (an ARCore phone's Chrome, for one): the
// officer taps the floor at the doors, then a point further in along the
// container; the container's outline and the scan's regions are drawn in
// the room at their distances from the doors. Everywhere else the page's
// two-marker alignment stays (docs/inspection.md).
const V = '../vendor/three/';
const WIDTH_M = 2.35;  // inside width of ISO containers
const HEIGHT_M = 2.39;
const REGION_M = 0.6;  // the side of a region's cube, as the overlay draws it

/** Whether this browser offers immersive AR; false where WebXR is absent. */
export async function arSupported() {
  try {
    return !!(navigator.xr && await navigator.xr.isSessionSupported('immersive-ar'));
  } catch {
    return false;
  }
}

/** World position of a point along metres from the doors, up metres above
 * the floor and side metres across the axis, given the doors'
 * floor point door and a floor point ahead further in ({x,y,z}, y up). */
export function arPoint(door, ahead, along, up = 0, side = 0) {
  const dx = ahead.x - door.x, dz = ahead.z - door.z;
  const n = Math.hypot(dx, dz) || 1;
  const ux = dx / n, uz = dz / n; // along the axis, on the floor
  return { x: door.x + ux * along - uz * side, y: door.y + up, z: door.z + uz * along + ux * side };
}

/** The container's edges as pairs of points (12 segments). */
function edges(door, ahead, lengthM) {
  const c = [];
  for (const a of [0, lengthM]) for (const u of [0, HEIGHT_M]) for (const s of [-WIDTH_M / 2, WIDTH_M / 2]) c.push(arPoint(door, ahead, a, u, s));
  const pairs = [[0, 1], [2, 3], [4, 5], [6, 7], [0, 2], [1, 3], [4, 6], [5, 7], [0, 4], [1, 5], [2, 6], [3, 7]];
  return pairs.flatMap(([i, j]) => [c[i], c[j]]);
}

/**
 * Starts an AR session with the DOM overlay root (its text says what to do
 * next); regions are the guide's steps with where.from_door_m. Resolves with
 * the session; onEnd runs once it ends (the officer's back button or end()).
 */
export async function startAR(root, { lengthM, regions, say, onEnd }) {
  const THREE = await import(V + 'three.module.js');
  const session = await navigator.xr.requestSession('immersive-ar', {
    requiredFeatures: ['hit-test'], optionalFeatures: ['dom-overlay'], domOverlay: { root } });
  const renderer = new THREE.WebGLRenderer({ alpha: true, antialias: true });
  renderer.xr.enabled = true;
  renderer.xr.setReferenceSpaceType('local');
  const scene = new THREE.Scene();
  const camera = new THREE.PerspectiveCamera();
  const reticle = new THREE.Mesh(new THREE.RingGeometry(0.08, 0.1, 32).rotateX(-Math.PI / 2),
    new THREE.MeshBasicMaterial({ color: 0x06d6a0 }));
  reticle.matrixAutoUpdate = false;
  reticle.visible = false;
  scene.add(reticle);
  let source = null;
  session.addEventListener('end', () => {
    renderer.setAnimationLoop(null);
    source?.cancel();
    renderer.dispose();
    onEnd();
  });
  await renderer.xr.setSession(session);
  source = await session.requestHitTestSource({ space: await session.requestReferenceSpace('viewer') });
  const taps = [];
  say('Point at the floor at the doors and tap.');
  session.addEventListener('select', () => {
    if (!reticle.visible || taps.length === 2) return;
    taps.push(new THREE.Vector3().setFromMatrixPosition(reticle.matrix));
    if (taps.length === 1) { say('Now tap the floor further in, along the container.'); return; }
    const [door, ahead] = taps;
    const line = new THREE.BufferGeometry().setFromPoints(edges(door, ahead, lengthM).map((p) => new THREE.Vector3(p.x, p.y, p.z)));
    scene.add(new THREE.LineSegments(line, new THREE.LineBasicMaterial({ color: 0x2ec4b6 })));
    const turn = Math.atan2(-(ahead.z - door.z), ahead.x - door.x);
    for (const r of regions) {
      const p = arPoint(door, ahead, r.where.from_door_m, (r.where.height_m ?? 0) + REGION_M / 2);
      const box = new THREE.Mesh(new THREE.BoxGeometry(REGION_M, REGION_M, REGION_M),
        new THREE.MeshBasicMaterial({ color: 0xff3b30, transparent: true, opacity: 0.45 }));
      box.position.set(p.x, p.y, p.z);
      box.rotation.y = turn;
      scene.add(box);
    }
    reticle.visible = false;
    say(`Container placed: ${regions.length} region${regions.length === 1 ? '' : 's'} from the scan in red.`);
  });
  renderer.setAnimationLoop((t, frame) => {
    if (frame && taps.length < 2) {
      const hit = frame.getHitTestResults(source)[0];
      const pose = hit?.getPose(renderer.xr.getReferenceSpace());
      reticle.visible = !!pose;
      if (pose) reticle.matrix.fromArray(pose.transform.matrix);
    }
    renderer.render(scene, camera);
  });
  return session;
}
