// Written for the Leeds WIN tests in the style of a vendor's Device Repository codec, from the
// Dragino LHT65N manual's payload table (§2.4): 11 bytes on fPort 2, big-endian.
function int16(hi, lo) {
  var v = (hi << 8) | lo;
  return v > 0x7fff ? v - 0x10000 : v;
}

function decodeUplink(input) {
  var b = input.bytes;
  if (input.fPort !== 2) {
    return { errors: ["unknown fPort " + input.fPort] };
  }
  if (b.length !== 11) {
    return { errors: ["LHT65N frame is 11 bytes, got " + b.length] };
  }
  var data = {
    BatV: (((b[0] << 8) | b[1]) & 0x3fff) / 1000,
    Bat_status: b[0] >> 6,
    Hum_SHT: Number((((b[4] << 8) | b[5]) / 10).toFixed(1)),
    Ext_sensor: ["none", "Temperature Sensor"][b[6] & 0x1f] || "other"
  };
  var warnings = [];
  var t = int16(b[2], b[3]);
  if (t === 0x7fff) {
    warnings.push("SHT sensor error");
  } else {
    data.TempC_SHT = Number((t / 100).toFixed(2));
  }
  if ((b[6] & 0x1f) === 1) {
    var ext = int16(b[7], b[8]);
    if (ext !== 0x7fff) data.TempC_DS = Number((ext / 100).toFixed(2));
  }
  return { data: data, warnings: warnings, errors: [] };
}
