#pragma once
/// @file error.hpp
/// One exception hierarchy for the whole toolkit. Every public entry point that
/// rejects its input throws a subclass of metarec::Error whose message names
/// the file/line/field or the parameter and its allowed range.
#include <stdexcept>
#include <string>

namespace metarec {

/// Base of every exception thrown by metarec.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Tensor shapes or ranks that do not fit an operation.
class ShapeError : public Error {
 public:
  using Error::Error;
};

/// A configuration value out of its allowed range (names parameter and range).
class ConfigError : public Error {
 public:
  using Error::Error;
};

/// A file that cannot be opened, read or written.
class IoError : public Error {
 public:
  using Error::Error;
};

/// Malformed input data; the message names file, line and field.
class ParseError : public Error {
 public:
  ParseError(const std::string& file, long line, const std::string& field, const std::string& what)
      : Error(file + ":" + std::to_string(line) + ": field '" + field + "': " + what),
        file_(file), line_(line), field_(field) {}
  const std::string& file() const noexcept { return file_; }
  long line() const noexcept { return line_; }
  const std::string& field() const noexcept { return field_; }

 private:
  std::string file_;
  long line_;
  std::string field_;
};

/// NaN or Inf detected in a value; the message names the op that produced it.
class NumericError : public Error {
 public:
  using Error::Error;
};

/// A checkpoint that is truncated, corrupted or does not match the model.
class CheckpointError : public Error {
 public:
  using Error::Error;
};

/// Throws ConfigError unless lo <= value <= hi.
template <class V>
void check_range(const char* name, V value, V lo, V hi) {
  if (!(value >= lo && value <= hi))
    throw ConfigError(std::string(name) + " = " + std::to_string(value) + " is out of range [" +
                      std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

}  // namespace metarec
