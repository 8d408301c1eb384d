# man.cmake - build rmilter.conf(5): the hand-written page IN with the
# directive list that the rmilter binary generates from its declarations
# (rmilter --reference=roff, from ".SH DIRECTIVES" on) in place of the
# line '.\" @DIRECTIVES@'. Run as:
#   cmake -DRMILTER=path/to/rmilter -DIN=rmilter.conf.5.in -DOUT=rmilter.conf.5
#         -P man.cmake
execute_process(COMMAND ${RMILTER} --reference=roff
    OUTPUT_VARIABLE ref RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${RMILTER} --reference=roff failed (${rc})")
endif()
string(FIND "${ref}" ".SH DIRECTIVES\n" at)
if(at LESS 0)
    message(FATAL_ERROR "no .SH DIRECTIVES in the generated reference")
endif()
string(SUBSTRING "${ref}" ${at} -1 directives)
file(READ ${IN} page)
string(FIND "${page}" ".\\\" @DIRECTIVES@\n" marker)
if(marker LESS 0)
    message(FATAL_ERROR "${IN} has no '.\\\" @DIRECTIVES@' line")
endif()
string(REPLACE ".\\\" @DIRECTIVES@\n" "${directives}" page "${page}")
file(WRITE ${OUT}.tmp "${page}")
file(RENAME ${OUT}.tmp ${OUT})
