#!/usr/bin/env node
// Computes the face-api descriptors (faceapi-128) of the sample photos that
// ship in @vladmandic/face-api, the way the console's Identify page does (in
// Chromium, CPU backend, the photo scaled to 640 px, tiny face detector at
// 320), and prints them as JSON: data/biometrics/faces/faceapi-samples.json,
// used by the `make run` demo and the tests. Needs a build (build/customs,
// build/web).   node scripts/bio-face-descriptors.mjs > data/biometrics/faces/faceapi-samples.json
import { startServer, launch, newPage, signIn } from '../tests/e2e/harness.mjs';

const srv = await startServer({});
const browser = await launch();
try {
  const page = await newPage(browser);
  await signIn(page, srv.base, srv.keys.officer);
  await page.goto(srv.base + '/identify.html');
  const out = await page.evaluate(async () => {
    const fa = await import('./vendor/face-api.js');
    await fa.tf.setBackend('cpu');
    await fa.tf.ready();
    const m = 'vendor/face-api-model';
    await Promise.all([fa.nets.tinyFaceDetector.loadFromUri(m), fa.nets.faceLandmark68Net.loadFromUri(m), fa.nets.faceRecognitionNet.loadFromUri(m)]);
    const res = {};
    for (let i = 1; i <= 6; i++) {
      const im = new Image();
      im.src = `vendor/face-samples/sample${i}.jpg`;
      await im.decode();
      const c = document.createElement('canvas');
      const sc = Math.min(1, 640 / Math.max(im.naturalWidth, im.naturalHeight));
      c.width = Math.round(im.naturalWidth * sc);
      c.height = Math.round(im.naturalHeight * sc);
      c.getContext('2d').drawImage(im, 0, 0, c.width, c.height);
      const r = await fa.detectSingleFace(c, new fa.TinyFaceDetectorOptions({ inputSize: 320, scoreThreshold: 0.4 }))
        .withFaceLandmarks().withFaceDescriptor();
      if (r) res[`sample${i}.jpg`] = { model: 'faceapi-128', vector: Array.from(r.descriptor, (x) => Math.round(x * 1e6) / 1e6) };
    }
    return res;
  });
  process.stdout.write(JSON.stringify(out, null, 1) + '\n');
} finally {
  await browser.close();
  await srv.stop();
}
