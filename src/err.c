#include "err.h"

#include <string.h>

const char *err_str(int err) {
  switch (err) {
  case 0: return "success";
  case ERR_PARSE: return "parse error";
  case ERR_FORMAT: return "unknown or undetectable format";
  case ERR_TRUNCATED: return "truncated compressed stream";
  case ERR_CORRUPT: return "corrupt data";
  case ERR_SQLITE: return "SQLite error";
  case ERR_VERSION: return "written by a newer version of mimic";
  case ERR_LIMIT: return "size limit reached";
  case ERR_USAGE: return "invalid usage";
  case ERR_EXISTS: return "already exists (use --force to overwrite)";
  case ERR_NOTFOUND: return "not found";
  case ERR_TOOMANY: return "too many malformed lines";
  case ERR_NODATA: return "no usable data";
  case ERR_INTERRUPTED: return "interrupted";
  default: break;
  }
  if (err < 0 && err > -10000) return strerror(-err);
  return "unknown error";
}
