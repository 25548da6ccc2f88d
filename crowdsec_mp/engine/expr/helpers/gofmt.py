"""Go `fmt.Sprintf` for the `Sprintf` helper: verbs, flags, width, precision and
Go's in-band error text (`%!d(string=x)`, `%!d(MISSING)`, `%!(EXTRA ...)`)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from crowdsec_mp.engine.expr import values as V

_DIRECTIVE = re.compile(r"%([-+# 0]*)(\*|[0-9]+)?(?:\.(\*|[0-9]*))?(.)?", re.DOTALL)


def go_type_name(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, datetime):
        return "time.Time"
    if isinstance(value, timedelta):
        return "time.Duration"
    return "*types." + type(value).__name__


def go_quote(text: str) -> str:
    """strconv.Quote."""
    out = ['"']
    simple = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
              "\v": "\\v", "\\": "\\\\", '"': '\\"'}
    for char in text:
        code = ord(char)
        if char in simple:
            out.append(simple[char])
        elif 0xDC80 <= code <= 0xDCFF:  # surrogate-escaped invalid byte
            out.append(f"\\x{code - 0xDC00:02x}")
        elif char.isprintable() or char == " ":
            out.append(char)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _bad(verb, value) -> str:
    if value is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type_name(value)}={V.format_value(value)})"


def _pad(text: str, flags: str, width: int | None, numeric: bool = False) -> str:
    if width is None or len(text) >= width:
        return text
    if "-" in flags:
        return text.ljust(width)
    if "0" in flags and numeric:
        sign = text[0] if text[:1] in "+-" else ""
        return sign + text[len(sign):].rjust(width - len(sign), "0")
    return text.rjust(width)


def _sign(text: str, value, flags: str) -> str:
    if value >= 0 and not text.startswith("-"):
        if "+" in flags:
            return "+" + text
        if " " in flags:
            return " " + text
    return text


def _format_int(verb, value, flags, precision):
    if verb == "d":
        text = str(abs(value))
    elif verb in "xX":
        text = format(abs(value), "x" if verb == "x" else "X")
        if "#" in flags:
            text = ("0x" if verb == "x" else "0X") + text
    elif verb == "o":
        text = format(abs(value), "o") if "#" not in flags else "0" + format(abs(value), "o")
    elif verb == "O":
        text = "0o" + format(abs(value), "o")
    elif verb == "b":
        text = format(abs(value), "b")
    elif verb == "c":
        return chr(value) if 0 <= value <= 0x10FFFF else "\ufffd"
    elif verb == "q":
        return "'" + (chr(value) if 0 <= value <= 0x10FFFF else "\ufffd") + "'"
    elif verb == "U":
        return f"U+{value:04X}"
    else:
        return None
    if precision is not None:
        text = text.rjust(precision, "0")
    if value < 0:
        text = "-" + text
    return _sign(text, value, flags)


def _format_float(verb, value, flags, precision):
    if verb in "fF":
        text = f"{value:.{6 if precision is None else precision}f}"
    elif verb in "eE":
        text = f"{value:.{6 if precision is None else precision}e}"
        if verb == "E":
            text = text.upper()
    elif verb in "gGv":
        if precision is None:
            text = V.format_float_g(value)
        else:
            text = f"{value:.{precision}g}"
        if verb == "G":
            text = text.upper()
    else:
        return None
    if text in ("inf", "nan", "-inf"):
        text = {"inf": "+Inf", "-inf": "-Inf", "nan": "NaN"}[text]
    return _sign(text, value, flags)


def _format_one(verb, value, flags, precision):
    if verb == "T":
        return "<nil>" if value is None else go_type_name(value)
    if verb == "v":
        if isinstance(value, float):
            return _sign(V.format_float_g(value), value, flags)
        if isinstance(value, int) and not isinstance(value, bool):
            return _sign(str(value), value, flags)
        if isinstance(value, str) and "#" in flags:
            return go_quote(value)
        return V.format_value(value)
    if isinstance(value, bool):
        return ("true" if value else "false") if verb == "t" else _bad(verb, value)
    if isinstance(value, int):
        text = _format_int(verb, value, flags, precision)
        return _bad(verb, value) if text is None else text
    if isinstance(value, float):
        text = _format_float(verb, value, flags, precision)
        return _bad(verb, value) if text is None else text
    if isinstance(value, str):
        if verb == "s":
            return value if precision is None else value[:precision]
        if verb == "q":
            return go_quote(value)
        if verb in "xX":
            data = V.to_bytes(value).hex()
            return data.upper() if verb == "X" else data
        return _bad(verb, value)
    if isinstance(value, (list, tuple)) and verb not in "T":
        return "[" + " ".join(_format_one(verb, item, flags, precision) for item in value) + "]"
    if verb == "s" and (isinstance(value, (datetime, timedelta)) or hasattr(value, "String")):
        return V.format_value(value)
    if verb in "sd" and value is not None and not isinstance(value, (datetime, timedelta)):
        return V.format_value(value)
    return _bad(verb, value)


def go_sprintf(fmt: str, args) -> str:
    out: list[str] = []
    position = 0
    arg_index = 0
    args = list(args)
    length = len(fmt)
    while position < length:
        percent = fmt.find("%", position)
        if percent < 0:
            out.append(fmt[position:])
            break
        out.append(fmt[position:percent])
        match = _DIRECTIVE.match(fmt, percent)
        flags, width_text, precision_text, verb = match.groups()
        position = match.end()
        if verb is None:
            out.append("%!(NOVERB)")
            break
        if verb == "%":
            out.append("%")
            continue
        width = precision = None
        if width_text == "*":
            if arg_index < len(args) and isinstance(args[arg_index], int):
                width = args[arg_index]
            arg_index += 1
        elif width_text:
            width = int(width_text)
        if precision_text == "*":
            if arg_index < len(args) and isinstance(args[arg_index], int):
                precision = args[arg_index]
            arg_index += 1
        elif precision_text is not None:
            precision = int(precision_text or "0")
        if arg_index >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        value = args[arg_index]
        arg_index += 1
        text = _format_one(verb, value, flags, precision)
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        out.append(_pad(text, flags, width, numeric))
    if arg_index < len(args):
        extra = ", ".join("<nil>" if v is None else f"{go_type_name(v)}={V.format_value(v)}"
                          for v in args[arg_index:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)
