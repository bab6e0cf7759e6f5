// The reference signalling server for tests/bench/rooms: Socket.IO doing what Origo's room
// coordinator does for join and chat (presence list, per-room sequence, chat tail of 100, the
// sender's echo carrying its client_id, a broadcast to the others). It keeps everything in
// memory; Origo makes every event durable before sending it.
const { Server } = require("socket.io");

const port = Number(process.argv[2] || 3000);
const io = new Server(port, { transports: ["websocket"], serveClient: false, perMessageDeflate: false });
const rooms = new Map();

io.on("connection", (socket) => {
  socket.on("join", ({ room, name }) => {
    let r = rooms.get(room);
    if (!r) {
      r = { seq: 0, members: new Map(), chat: [] };
      rooms.set(room, r);
    }
    const participant = { id: socket.id, name, joined_at_ms: Date.now() };
    r.seq += 1;
    socket.to(room).emit("participant_joined", { seq: r.seq, participant });
    socket.join(room);
    r.members.set(socket.id, participant);
    socket.data = { room, name };
    socket.emit("joined", {
      room, seq: r.seq, you: participant,
      participants: [...r.members.values()].filter((p) => p.id !== socket.id),
      chat: r.chat,
    });
  });
  socket.on("chat", ({ text, client_id }) => {
    const { room, name } = socket.data || {};
    const r = rooms.get(room);
    if (!r) return;
    r.seq += 1;
    const message = { seq: r.seq, from: socket.id, from_name: name, text, sent_at_ms: Date.now() };
    r.chat.push(message);
    if (r.chat.length > 100) r.chat.shift();
    socket.to(room).emit("chat", { message });
    socket.emit("chat", { message, client_id });
  });
  socket.on("disconnect", () => {
    const { room } = socket.data || {};
    const r = rooms.get(room);
    if (!r) return;
    r.members.delete(socket.id);
    r.seq += 1;
    io.to(room).emit("participant_left", { seq: r.seq, participant_id: socket.id, reason: "left" });
  });
});
console.log(`socket.io listening on ${port}`);
