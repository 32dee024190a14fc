-- Turns a page of docs/ into the body of a man page: its headings move up one level (the
-- page's own title is dropped by generate.sh, its sections become .SH), and links become
-- their text, since a man page cannot follow them.
function Header(h)
  if h.level >= 2 then
    h.level = h.level - 1
  end
  return h
end

function Link(l)
  return l.content
end

-- A pipe table's columns come out equally wide; the last one (the explanation) gets half the
-- line, so the short ones (key, type, default) are not broken into syllables.
function Table(t)
  local n = #t.colspecs
  if n >= 3 then
    for i = 1, n do
      local w = (i == n) and 0.5 or 0.5 / (n - 1)
      t.colspecs[i] = { t.colspecs[i][1], w }
    end
  end
  return t
end
