// Written for the Leeds WIN tests: a made-up "ClimaLog" logger that sends its last readings with
// their age, in a vendor's style using Date arithmetic and normalizeUplink (no field map needed).
// Frame (fPort 3): count N, then N records of 7 bytes:
//   uint16 age in minutes | int16 temperature 0.01 degC | uint8 humidity % | uint16 pressure in 10 Pa
function decodeUplink(input) {
  var b = input.bytes, n = b[0], records = [];
  if (b.length !== 1 + 7 * n) return { errors: ["length does not match " + n + " records"] };
  for (var i = 0; i < n; i++) {
    var o = 1 + 7 * i;
    var age = (b[o] << 8) | b[o + 1];
    var t = ((b[o + 2] << 24) >> 16) | b[o + 3];
    var when = new Date(input.recvTime.getTime() - age * 60000);
    records.push({
      time: when.toISOString(),
      temperature: t / 100,
      humidity: b[o + 4],
      pressure_pa: ((b[o + 5] << 8) | b[o + 6]) * 10
    });
  }
  return { data: { records: records } };
}

function normalizeUplink(input) {
  return {
    data: input.data.records.map(function (r) {
      return {
        time: r.time,
        air: { temperature: r.temperature, relativeHumidity: r.humidity, pressure: r.pressure_pa / 100 }
      };
    })
  };
}
