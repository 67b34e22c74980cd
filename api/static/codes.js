// Unified codes in the browser: the same ISO 7064 MOD 11,10 check as registry/codes.py, so a
// mistyped code is flagged as it is typed, before any request.
(function (global) {
  "use strict";
  function checkDigit(body) {
    var p = 10;
    for (var i = 0; i < body.length; i++) {
      var s = (p + Number(body[i])) % 10;
      if (s === 0) s = 10;
      p = (2 * s) % 11;
    }
    return String((11 - p) % 10);
  }
  function check(code) {
    code = (code || "").trim();
    if (!/^\d*$/.test(code)) return { valid: false, reason: "non_digit" };
    if (code.length !== 17) return { valid: false, reason: "length", partial: code.length < 17 };
    if (code[16] !== checkDigit(code.slice(0, 16))) return { valid: false, reason: "check_digit" };
    return { valid: true };
  }
  global.citytwinCodes = { checkDigit: checkDigit, check: check };
})(window);
