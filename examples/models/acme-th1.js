// Acme TH-1: a made-up temperature and humidity sensor, written for the Leeds WIN
// examples in the style of a LoRaWAN Device Repository codec (no vendor's code).
// Uplink on fPort 2, 7 bytes, big-endian:
//   0-1 uint16 battery voltage, mV
//   2-3 int16  temperature, 0.01 degC
//   4-5 uint16 relative humidity, 0.1 %RH
//   6   uint8  flags: bit 0 = button pressed since the last uplink
function decodeUplink(input) {
  var b = input.bytes;
  if (input.fPort !== 2) return { errors: ["unknown fPort " + input.fPort] };
  if (b.length !== 7) return { errors: ["expected 7 bytes, got " + b.length] };
  var temperature = (b[2] << 8) | b[3];
  if (temperature & 0x8000) temperature -= 0x10000;
  var humidity = ((b[4] << 8) | b[5]) / 10;
  var warnings = [];
  if (humidity > 100) warnings.push("humidity above 100 %RH");
  return {
    data: {
      battery_mv: (b[0] << 8) | b[1],
      temperature: temperature / 100,
      humidity: humidity,
      button: (b[6] & 0x01) === 1
    },
    warnings: warnings
  };
}
