# Turns a text file into a C string constant: cmake -DIN=f -DOUT=f.c -P this
file(READ ${IN} text)
string(REPLACE "\\" "\\\\" text "${text}")
string(REPLACE "\"" "\\\"" text "${text}")
string(REPLACE "\n" "\\n\"\n\"" text "${text}")
file(WRITE ${OUT} "/* generated from models/schema.sql; do not edit */\n"
     "const char model_schema_sql[] =\n\"${text}\";\n")
