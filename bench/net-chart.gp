# The network chart: ours against the Linux guest on each netdev line.
# bench/net.py writes three data files (rows: "label" ours linux, "?" where a
# system has no figure) and calls
#   gnuplot -e "ratefile='...'; rpsfile='...'; latfile='...'; outfile='...'; charttitle='...'" bench/net-chart.gp
set terminal svg size 1500,540 dynamic font "sans,11" background rgb "white"
set output outfile
set datafile missing "?"
set multiplot layout 1,3 title charttitle
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key inside top right horizontal  # first panel only
set offsets 0, 0, graph 0.12, 0   # headroom for the key
set xtics rotate by -30 scale 0

set title "throughput (MB/s, higher is better)"
set ylabel "MB/s"
set yrange [0:*]
plot ratefile using 2:xtic(1) title "ours" lc rgb "#4c72b0", '' using 3 title "Linux guest" lc rgb "#dd8452"

unset key  # the same colours as in the first panel
set offsets 0, 0, 0, 0
set title "HTTP GET 1 KiB, a connection each, 8 concurrent (req/s)"
set ylabel "requests/s"
plot rpsfile using 2:xtic(1) title "ours" lc rgb "#4c72b0", '' using 3 title "Linux guest" lc rgb "#dd8452"

set title "round trips, p50 (µs, log scale, lower is better)"
set ylabel "µs"
set logscale y
set yrange [1:*]
plot latfile using 2:xtic(1) title "ours" lc rgb "#4c72b0", '' using 3 title "Linux guest" lc rgb "#dd8452"
unset multiplot
