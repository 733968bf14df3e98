// Written for the Leeds WIN tests: a made-up "AirNest" particulate sensor in a vendor's style,
// with nested output, an array of sensors, typed arrays and a DataView.
// Frame (fPort 10, 17 bytes, big-endian):
//   0-3 float32 PM1.0 ug/m3 | 4-7 float32 PM2.5 ug/m3 | 8-11 float32 PM10 ug/m3
//   12-13 int16 temperature in 0.1 degF | 14 uint8 humidity in 0.5 % | 15-16 uint16 battery mV
function decodeUplink(input) {
  var raw = new Uint8Array(input.bytes);
  if (raw.length !== 17) return { errors: ["expected 17 bytes"] };
  var view = new DataView(raw.buffer);
  var pm = new Float32Array(3);
  for (var i = 0; i < 3; i++) pm[i] = view.getFloat32(i * 4, false);
  return {
    data: {
      pm: { "1_0": pm[0], "2_5": pm[1], "10": pm[2] },
      sensors: [
        { kind: "sht", temperature_f: view.getInt16(12, false) / 10, humidity: raw[14] / 2 }
      ],
      power: { battery: { mv: view.getUint16(15, false) } }
    }
  };
}
