export GL=glpat-CEJyvdsHB8ij3dhx0knt
curl -H 'PRIVATE-TOKEN: glpat-tMyscwigxFCL4LBcwIsi' api  # hoist:allow
