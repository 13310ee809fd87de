// Package cfg reads a Kamailio-style routing configuration: the
// preprocessor (#!define, #!ifdef, #!subst, include_file ...), the lexer
// and the parser that turns the text into an AST. Nothing here evaluates
// the script; internal/script compiles the AST into closures.
//
// The syntax follows Kamailio 5.6's cfg.lex/cfg.y: global parameters
// (listen=..., debug=...), loadmodule/loadpath/modparam, custom cfg
// variables (group.name = value desc "..."), flags declarations and the
// route blocks with their statements and expressions. Every AST node
// carries the file:line:column where it starts, and every error says where
// it happened and what was expected.
//
// Entry points: ParseFile and Parse build a *File; Options carries the
// command-line defines (-A NAME[=value]) and the file reader used for
// include_file/import_file.
package cfg
