// Run by tests/frontend/test_reference_line.py through node: prints the results as JSON.
import {boxCentre, distanceToPlane, meanPoint, nearestSlice, pixelToPatient, referenceLine}
  from "../../frontend/static/frontend/reference_line.js";

// The phantoms' planes (fixtures/phantoms/dicom.py): sagittal rows along +y, columns along -z; axial rows
// along +x, columns along +y.
const sagittal = {imagePositionPatient: [2, -100, 120], rowCosines: [0, 1, 0], columnCosines: [0, 0, -1],
                  rowPixelSpacing: 0.5, columnPixelSpacing: 0.5, rows: 400, columns: 300};
const axial = (z) => ({imagePositionPatient: [-80, -80, z], rowCosines: [1, 0, 0], columnCosines: [0, 1, 0],
                       rowPixelSpacing: 0.6, columnPixelSpacing: 0.6, rows: 256, columns: 256});
// An axial slice tilted 45 degrees about the x axis through the point (0, 0, 50).
const c = Math.SQRT1_2;
const tilted = {imagePositionPatient: [-80, 0, 50], rowCosines: [1, 0, 0], columnCosines: [0, c, c],
                rowPixelSpacing: 1, columnPixelSpacing: 1, rows: 200, columns: 200};
const otherSagittal = {...sagittal, imagePositionPatient: [6, -100, 120]};

console.log(JSON.stringify({
  z100: referenceLine(sagittal, axial(100)),
  z60: referenceLine(sagittal, axial(60)),
  above: referenceLine(sagittal, axial(500)),
  tilted: referenceLine(sagittal, tilted),
  parallel: referenceLine(sagittal, otherSagittal),
  // From a sagittal box to the axial slice through it.
  pixel: pixelToPatient(sagittal, 100, 40),
  centre: boxCentre(sagittal, [90, 30, 110, 50]),
  distance: distanceToPlane(axial(60), [5, 7, 100]),
  distanceTilted: distanceToPlane(tilted, [0, 10, 50]),
  mean: meanPoint([[0, 0, 0], [2, 4, 6]]),
  noMean: meanPoint([]),
  nearest: nearestSlice([axial(20), axial(60), axial(100), axial(140)], pixelToPatient(sagittal, 100, 45)),
  nearestSkipsUnknown: nearestSlice([axial(20), null, axial(100)], [0, 0, 58]),
  nearestNoPoint: nearestSlice([axial(20)], null),
  nearestNoPlanes: nearestSlice([null], [0, 0, 10]),
}));
