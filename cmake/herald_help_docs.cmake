# herald_help_docs.cmake - herald(1) and the bash completion, written from the
# text `herald --help` and `herald CMD --help` print (cmake -P, at build time).
#
# DESIGN: the help text in src/cli/ is the one place the commands and their
# options are written; the man page and the completion are derived from it,
# so a command or option added there appears in both at the next build. The
# sections no --help holds (environment, files, exit status) are below.
#
# cmake -DHERALD=path/to/herald -DVERSION=0.1.0 -DMAN=out/herald.1
#       -DCOMPLETION=out/herald.bash -P herald_help_docs.cmake

foreach(v HERALD VERSION MAN COMPLETION)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "herald_help_docs.cmake: -D${v}= is required")
  endif()
endforeach()

# A sanitizer build's herald runs here too: its leak report is not help text.
set(ENV{ASAN_OPTIONS} "detect_leaks=0")

function(help_of out)
  execute_process(COMMAND ${HERALD} ${ARGN} --help OUTPUT_VARIABLE text RESULT_VARIABLE rc
                  ERROR_VARIABLE errtext)
  if(NOT rc EQUAL 0 OR text STREQUAL "")
    message(FATAL_ERROR "herald ${ARGN} --help: exit ${rc}: ${errtext}")
  endif()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

# Text as roff: backslashes escaped, a leading . or ' made literal.
function(roff_text out text)
  string(REPLACE "\\" "\\e" text "${text}")
  string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" text "${text}")
  string(REGEX REPLACE "\n+$" "" text "${text}")
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

help_of(top)
# "  serve       run the daemon" lines between "commands:" and the blank line.
string(REGEX MATCH "commands:\n(( +[a-z-]+ +[^\n]*\n)+)" _ "${top}")
set(cmd_block "${CMAKE_MATCH_1}")
if(cmd_block STREQUAL "")
  message(FATAL_ERROR "herald --help: no 'commands:' list")
endif()
string(REGEX MATCHALL " +[a-z-]+ +[^\n]*\n" cmd_lines "${cmd_block}")
set(commands "")
set(man_cmds "")
set(comp_cases "")
foreach(line IN LISTS cmd_lines)
  string(REGEX MATCH "^ +([a-z-]+) +([^\n]*)" _ "${line}")
  set(name "${CMAKE_MATCH_1}")
  set(summary "${CMAKE_MATCH_2}")
  list(APPEND commands "${name}")
  if(name STREQUAL "help")
    continue()
  endif()
  help_of(text ${name})
  roff_text(rtext "${text}")
  roff_text(rsummary "${summary}")
  string(APPEND man_cmds ".SS ${name}\n${rsummary}.\n.PP\n.nf\n.RS 4\n${rtext}\n.RE\n.fi\n")
  # Completion: the command's own words (`herald channel list`, `herald setup
  # kibana`) and every --option its help names.
  string(REGEX MATCHALL "herald ${name} [a-z][a-z-]*" subs "${text}")
  list(TRANSFORM subs REPLACE "^herald ${name} " "")
  list(REMOVE_DUPLICATES subs)
  # ([ ] | are list syntax to CMake: blanked out before anything is a list)
  string(REGEX REPLACE "[][|()]" " " plain " ${text}")
  string(REGEX MATCHALL "[ \n](--[a-z][a-z-]*|-[a-zA-Z])" opts "${plain}")
  list(TRANSFORM opts REPLACE "^[ \n]" "")
  list(REMOVE_DUPLICATES opts)
  list(SORT opts)
  string(REPLACE ";" " " subs "${subs}")
  string(REPLACE ";" " " opts "${opts}")
  string(APPEND comp_cases "    ${name}) subs='${subs}' opts='${opts}' ;;\n")
endforeach()

roff_text(rtop "${top}")
string(REPLACE ";" " " commands_sp "${commands}")
file(WRITE "${MAN}" ".\\\" Generated from `herald --help` by cmake/herald_help_docs.cmake: edit the help text in src/cli/.
.TH HERALD 1 \"\" \"herald ${VERSION}\" \"User Commands\"
.SH NAME
herald \\- route container-platform events and alerts durably to log platforms and notification channels
.SH SYNOPSIS
.B herald
.I command
.RI [ options ]
.SH DESCRIPTION
herald collects Kubernetes and Docker events, Sysdig, Falco and Alertmanager
notifications and any JSON, stores them durably (an event answered 202 is on
disk), and delivers them to Elasticsearch, Splunk, webhooks and notification
channels. One binary is both the daemon
.RB ( \"herald serve\" )
and a client of its API.
.PP
.nf
.RS 4
${rtop}
.RE
.fi
.SH COMMANDS
${man_cmds}.SH ENVIRONMENT
.TP
.B HERALD_LISTEN\\fR, \\fBHERALD_DATA\\fR, \\fBHERALD_STORE
the daemon's listen address, data directory and store URL (override the file)
.TP
.B HERALD_ADMIN_TOKEN
an admin API token (at least 16 characters)
.TP
.B HERALD_LOG_FORMAT\\fR, \\fBHERALD_LOG_LEVEL
text or json; debug, info, warn or error
.TP
.B HERALD_WEB_DIR
the dashboard's files (default: <prefix>/share/herald/web)
.TP
.B HERALD_URL\\fR, \\fBHERALD_TOKEN
the client commands' herald and token
.SH FILES
.TP
.I /etc/herald/herald.yaml
the configuration used by the systemd unit (an example is installed as
<prefix>/share/doc/herald/herald.example.yaml)
.TP
.I /var/lib/herald
the unit's data directory: the SQLite store and a generated admin.token
.SH EXIT STATUS
0 success, 1 failure (stderr says what and why), 2 usage error.
.SH SIGNALS
SIGHUP reloads the configuration file without dropping events; SIGTERM
stops gracefully.
.SH SEE ALSO
The documentation in <prefix>/share/doc/herald and the repository's docs/.
")

file(WRITE "${COMPLETION}" "# bash completion for herald. Generated from `herald --help` by
# cmake/herald_help_docs.cmake: edit the help text in src/cli/.
_herald()
{
    local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
    if [ \"\$COMP_CWORD\" -eq 1 ]; then
        COMPREPLY=(\$(compgen -W '${commands_sp} --help --version' -- \"\$cur\"))
        return
    fi
    case \$prev in
    --config|--cacert|--file|create|send) COMPREPLY=(\$(compgen -f -- \"\$cur\")); return ;;
    --data) COMPREPLY=(\$(compgen -d -- \"\$cur\")); return ;;
    -o) COMPREPLY=(\$(compgen -W 'json yaml table' -- \"\$cur\")); return ;;
    --log-format) COMPREPLY=(\$(compgen -W 'text json' -- \"\$cur\")); return ;;
    esac
    local subs='' opts=''
    case \${COMP_WORDS[1]} in
${comp_cases}    help) subs='${commands_sp}' ;;
    esac
    if [ \"\$COMP_CWORD\" -eq 2 ] && [ -n \"\$subs\" ] && [[ \$cur != -* ]]; then
        COMPREPLY=(\$(compgen -W \"\$subs\" -- \"\$cur\"))
    else
        COMPREPLY=(\$(compgen -W \"\$opts\" -- \"\$cur\"))
    fi
}
complete -o default -F _herald herald
")
