# The benchmark chart: latency percentiles at QD1 (left) and 4 KiB IOPS
# against queue depth (right).  bench/run.py writes the data files and calls
#   gnuplot -e "latfile='...'; iopsfile='...'; series='...'; outfile='...'; charttitle='...'" bench/chart.gp
# where series names the blocks of iopsfile in order, as SYSTEM:OP:DRIVE words
# (ours|Linux, rr|rw, none|wb|null): colour by drive line, dashes for writes,
# open points for the Linux guest.
set terminal svg size 1200,520 dynamic font "sans,11" background rgb "white"
set output outfile
set datafile missing "?"
set multiplot layout 1,2 title charttitle

# ---- left: p50 and p99 latency of 4 KiB random I/O at QD1, per system
set title "4 KiB random I/O at QD1: latency (µs, log scale)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set ylabel "µs"
set yrange [1:*]
set grid ytics
set key top left
set xtics rotate by -20 scale 0
plot latfile using 2:xtic(1) title "read p50" lc rgb "#4c72b0", \
     '' using 3 title "read p99" lc rgb "#9db4dd", \
     '' using 4 title "write p50" lc rgb "#dd8452", \
     '' using 5 title "write p99" lc rgb "#f0c2a0"

# ---- right: IOPS against queue depth, one line per system and drive line
unset style
set style data linespoints
set title "4 KiB random IOPS against queue depth (rr: read, rw: write)"
set logscale x 2
set logscale y
set xrange [0.8:40]
set yrange [*:*]
set xtics (1, 4, 32) rotate by 0 scale 1
set xlabel "queue depth"
set ylabel "IOPS"
set format y "%.0f"
set key outside right top
drivecolor(w) = strstrt(w, ":null") ? 0x000000 : (strstrt(w, ":wb") ? 0xdd8452 : 0x4c72b0)
dashes(w) = strstrt(w, ":rw:") ? 2 : 1
points(w) = strstrt(w, "Linux:") ? 6 : 5
plot for [i=1:words(series)] iopsfile index (i - 1) using 1:2 with linespoints lw 2 \
     lc rgb drivecolor(word(series, i)) dt dashes(word(series, i)) pt points(word(series, i)) \
     title columnheader(1)
unset multiplot
