// A 3D view of a design file (STL, 3MF, OBJ) with three.js, loaded only by
// the pages that draw one. The bytes come from GET /v1/designs/{sha}/file
// (the token in the Authorization header, never in a URL).
import { getToken, ApiError } from './api.js';
import { h, fill, errorBox } from './dom.js';

const V = '../vendor/three/';

/** The file's bytes; ApiError with a sentence on failure. */
export async function designBytes(sha, signal) {
  let res;
  try {
    res = await fetch('/v1/designs/' + encodeURIComponent(sha) + '/file', {
      headers: { Authorization: 'Bearer ' + getToken() }, signal, cache: 'no-store', credentials: 'omit',
    });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'The server could not be reached.');
  }
  if (!res.ok) throw new ApiError(res.status, `http_${res.status}`, res.status === 404
    ? 'This design file is not one your key may see.' : `The file could not be read (status ${res.status}).`);
  return res.arrayBuffer();
}

function kindOf(buf) {
  const b = new Uint8Array(buf, 0, Math.min(buf.byteLength, 512));
  if (b[0] === 0x50 && b[1] === 0x4b) return '3mf';
  if (buf.byteLength >= 84 && 84 + 50 * new DataView(buf).getUint32(80, true) === buf.byteLength) return 'stl';
  const head = new TextDecoder().decode(b).trimStart();
  if (head.startsWith('solid')) return 'stl';
  return 'obj';
}

function webgl() {
  try { return !!document.createElement('canvas').getContext('webgl2'); } catch { return false; }
}

/**
 * Draws the file's bytes into el (a box the page sizes); drag turns, wheel
 * zooms. Resolves with a cleanup function that frees the GPU's memory.
 */
export async function viewDesign(el, buf, label) {
  if (!webgl()) {
    fill(el, h('p', { class: 'empty' }, 'This browser cannot draw 3D (WebGL is off); the measurements are the server’s.'));
    return () => {};
  }
  const [THREE, { STLLoader }, { OBJLoader }, { ThreeMFLoader }, { OrbitControls }] = await Promise.all([
    import(V + 'three.module.js'), import(V + 'STLLoader.js'), import(V + 'OBJLoader.js'),
    import(V + '3MFLoader.js'), import(V + 'OrbitControls.js')]);
  const material = new THREE.MeshStandardMaterial({ color: 0x2f6db5, metalness: 0.1, roughness: 0.65, side: THREE.DoubleSide });
  let object;
  try {
    const kind = kindOf(buf);
    if (kind === 'stl') {
      const g = new STLLoader().parse(buf);
      g.computeVertexNormals();
      object = new THREE.Mesh(g, material);
    } else if (kind === '3mf') {
      object = new ThreeMFLoader().parse(buf);
    } else {
      object = new OBJLoader().parse(new TextDecoder().decode(buf));
    }
    object.traverse((o) => { if (o.isMesh) o.material = material; });
  } catch (e) {
    fill(el, errorBox({ message: 'The viewer could not read this file; the server’s inspection below still holds.' }));
    return () => {};
  }
  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0xf4f6f9);
  scene.add(new THREE.HemisphereLight(0xffffff, 0x8899aa, 2.2));
  const sun = new THREE.DirectionalLight(0xffffff, 2.0);
  sun.position.set(1, 2, 3);
  scene.add(sun);
  // centred, turned so that z (printers' up) is up on the screen
  const box = new THREE.Box3().setFromObject(object);
  const centre = box.getCenter(new THREE.Vector3());
  object.position.sub(centre);
  const pivot = new THREE.Group();
  pivot.rotation.x = -Math.PI / 2;
  pivot.add(object);
  scene.add(pivot);
  const radius = Math.max(1e-6, box.getBoundingSphere(new THREE.Sphere()).radius);
  const camera = new THREE.PerspectiveCamera(35, 1, radius / 100, radius * 100);
  camera.position.set(radius * 1.9, radius * 1.3, radius * 2.3);
  const renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
  renderer.setPixelRatio(Math.min(2, window.devicePixelRatio || 1));
  const canvas = renderer.domElement;
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', label);
  fill(el, canvas);
  const controls = new OrbitControls(camera, canvas);
  controls.enableDamping = false;
  const draw = () => renderer.render(scene, camera);
  controls.addEventListener('change', draw);
  const size = () => {
    const w = el.clientWidth || 320;
    const hgt = el.clientHeight || 260;
    renderer.setSize(w, hgt, false);
    camera.aspect = w / hgt;
    camera.updateProjectionMatrix();
    draw();
  };
  const ro = new ResizeObserver(size);
  ro.observe(el);
  size();
  el.dataset.drawn = 'true';
  return () => {
    ro.disconnect();
    controls.dispose();
    object.traverse((o) => { if (o.geometry) o.geometry.dispose(); });
    material.dispose();
    renderer.dispose();
  };
}
