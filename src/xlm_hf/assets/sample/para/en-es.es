¿Dónde está la estación de tren más cercana?
Quisiera un café con leche, por favor.
Hoy hace un tiempo precioso, así que vamos a dar un paseo.
Mi hermana vive en un pueblo pequeño cerca de las montañas.
¿Cuánto cuesta esta chaqueta?
Llegamos al hotel tarde por la noche.
Los niños están jugando en el jardín con el perro.
Lee un periódico todas las mañanas antes de ir a trabajar.
¿Podría hablar un poco más despacio, por favor?
El museo cierra los lunes.
Llevo dos años aprendiendo francés.
La sopa está demasiado caliente para comerla ahora mismo.
Nuestro vuelo sale mañana a las siete de la mañana.
Compró pan fresco y queso en el mercado.
El río atraviesa el centro de la ciudad antigua.
No entiendo en absoluto esta pregunta.
Mi padre trabaja de médico en un hospital.
Ha llovido toda la noche y las calles siguen mojadas.
El profesor nos puso muchos deberes para el fin de semana.
Tenemos que comprar leche, huevos y mantequilla.
El castillo se construyó en el siglo XII.
¿Conoce algún buen restaurante cerca de aquí?
El concierto empieza a las ocho, así que deberíamos salir ya.
He perdido las llaves en algún lugar del parque.
La Tierra gira alrededor del Sol una vez al año.
Mis abuelos tienen una granja con vacas y ovejas.
Este libro es más interesante que la película.
Cierra la ventana, por favor, que hace frío aquí dentro.
La tienda de la esquina vende periódicos y caramelos.
Viven en esta casa desde hace treinta años.
El agua hierve a cien grados centígrados.
Normalmente me acuesto hacia las once.
El autobús volvió a llegar tarde esta mañana.
Toca el violín en la orquesta del colegio.
Pasamos las vacaciones en una isla preciosa del sur.
El médico me dijo que descansara unos días.
Una semana tiene siete días y un año tiene doce meses.
Mi hermano es más alto que yo, pero yo soy mayor.
La ciudad tiene un gran parque con un lago en el centro.
Me gustaría reservar una mesa para cuatro personas.
Se acerca el invierno y los días son cada vez más cortos.
Se olvidó el paraguas y se mojó por completo.
Los estudiantes tienen que terminar el proyecto antes del próximo viernes.
Nuestros vecinos son muy simpáticos y serviciales.
El tren iba lleno, así que tuvimos que ir de pie.
Los árboles pierden las hojas en otoño.
¿Me ayudas a subir estas cajas?
La película era tan triste que lloré al final.
Nuestra empresa tiene oficinas en varios países europeos.
Prefiero el té por la mañana y el café por la tarde.
La biblioteca tiene miles de libros en muchos idiomas diferentes.
Mi madre hace la mejor tarta de chocolate del mundo.
Visitamos tres museos y una iglesia antigua en un solo día.
Si nieva mañana, probablemente cerrarán los colegios.
El nuevo puente estará terminado el año que viene.
Nunca he visto una puesta de sol tan bonita.
Trabaja desde casa dos días a la semana.
El hospital busca más enfermeras y médicos.
Los pájaros construyen sus nidos en primavera.
Mi estación favorita es el verano, porque me encanta nadar en el mar.
El precio de la fruta y la verdura ha subido este año.
Habla tres idiomas y está aprendiendo un cuarto.
La reunión se ha cambiado al jueves por la tarde.
Nuestro gato duerme en el sofá todo el día.
Mucha gente se desplaza en bicicleta en esta ciudad.
El primer hombre pisó la Luna en 1969.
Tengo que ir al banco antes de que cierre.
Las montañas están cubiertas de nieve de noviembre a abril.
¿Podría decirme cómo llegar a la oficina de correos?
El partido de fútbol se suspendió por la lluvia intensa.
Mi abuela nació en un pueblecito junto al mar.
A la sopa le falta un poco más de sal y pimienta.
Se casaron en una iglesia cerca del río.
El ordenador no funciona, así que llamé a un técnico.
El bebé lleva tres horas durmiendo.
La música me ayuda a relajarme después de un largo día de trabajo.
Esta carretera lleva al puerto viejo.
Los niños estaban muy ilusionados con la excursión del colegio.
Estoy leyendo una novela sobre una familia del siglo XIX.
Por favor, apaguen sus teléfonos durante la función.
El sol sale por el este y se pone por el oeste.
Plantamos rosas y tulipanes delante de la casa.
El restaurante sirve platos tradicionales de la región.
Corre cinco kilómetros todas las mañanas antes de desayunar.
La población del país ha crecido rápidamente.
Te llamaré en cuanto llegue al aeropuerto.
El avión aterrizó sin problemas a pesar del fuerte viento.
Mi tío arregla coches antiguos en su garaje.
La exposición muestra cuadros de los dos últimos siglos.
Es importante beber suficiente agua cuando hace calor.
La tienda abre de nueve de la mañana a seis de la tarde.
Nuestra hija quiere estudiar Medicina en la universidad.
El fuego se propagó rápidamente por el bosque seco.
Esperamos el autobús durante más de media hora.
Todas las mañanas se vende pescado fresco en el puerto.
El rey vivía en el palacio con su familia y sus sirvientes.
La nueva ley entrará en vigor el mes que viene.
No encuentro mis gafas por ninguna parte.
Los estudiantes escucharon atentamente al profesor.
El pueblo es famoso por su vino y su queso.
Los científicos estudian cómo afecta el cambio climático a la migración de las aves.
La ciudad antigua fue destruida por un terremoto hace más de dos mil años.
Mi compañero está de vacaciones, así que esta semana hago yo su trabajo.
El gobierno ha prometido construir más escuelas en las zonas rurales.
El año pasado abrió una pequeña panadería en el centro del pueblo.
El número de turistas que visitan la isla se ha duplicado en diez años.
El ejercicio regular es bueno tanto para el cuerpo como para la mente.
La empresa ha desarrollado una nueva aplicación para aprender idiomas.
Durante la guerra, muchas familias abandonaron sus casas y se fueron al campo.
El río está tan contaminado que los peces han desaparecido.
Decidimos ir en tren en lugar de ir en coche.
La antigua fábrica se ha convertido en un centro cultural.
La mayor parte de la superficie de la Tierra está cubierta por océanos.
Se disculpó por llegar tarde a la reunión.
La colección del museo incluye cuadros, esculturas y monedas antiguas.
Creo que va a llover esta tarde, así que llévate un paraguas.
Los agricultores están preocupados porque no llueve desde hace meses.
Mis padres se conocieron en la universidad hace cuarenta años.
Los coches eléctricos son cada vez más baratos y más populares.
El camino que bordea los acantilados ofrece unas vistas maravillosas del mar.
La autora firmó ejemplares de su nuevo libro en la librería.
Tardaron tres días en subir a la cima de la montaña.
La vacuna se probó en miles de voluntarios.
Nuestro equipo ganó la final tras un partido muy difícil.
El barco salió del puerto al amanecer y navegó hacia el norte.
No deben dejar su equipaje sin vigilancia en la estación.
La cocina huele a pan recién hecho y a canela.
El presidente dio un discurso sobre la economía y el desempleo.
Tengo que terminar este informe antes de que acabe el día.
En el bosque viven lobos, zorros y muchas especies de aves.
Cenamos en una terraza con vistas al puerto.
El precio de las entradas incluye una visita guiada al castillo.
La mayoría de la gente del pueblo trabaja en la agricultura o en el turismo.
Gracias a internet, podemos hablar con amigos de todo el mundo.
La tormenta causó graves daños en varias casas cerca de la costa.
Mi hijo está aprendiendo a montar en bicicleta sin ayuda.
El pintor utilizó colores vivos para mostrar la luz del sur.
La conferencia fue interesante, pero demasiado larga.
Las abejas producen miel a partir del néctar de las flores.
Las calles estaban llenas de gente que celebraba la victoria.
Deberíamos proteger el medio ambiente para las generaciones futuras.
Lleva quince años trabajando en la misma empresa.
La receta es sencilla, pero el bizcocho tiene que hornearse durante una hora.
En esta parte del mundo se hablan muchas lenguas.
Los niños cantaron una canción por el cumpleaños de su abuela.
La policía busca testigos del accidente.
Esta noche prefiero quedarme en casa y ver una película.
El puente viejo es demasiado estrecho para camiones y autobuses.
La orquesta tocó una sinfonía de un compositor famoso.
Cuando era joven, pasaba todos los veranos con mis abuelos.
Perdone, ¿está libre este asiento?
Las noches son muy frías en el desierto.
Mi hermano acaba de comprarse un coche nuevo.
El próximo verano va a visitar a sus primos en Canadá.
Los ingenieros están construyendo un túnel bajo la montaña.
No me gusta levantarme temprano los domingos.
La ciudad fue fundada por los romanos hace casi dos mil años.
El paciente tiene que quedarse en el hospital una semana más.
¿A qué hora sale el último tren al aeropuerto?
El jardín está precioso cuando todas las flores están abiertas.
Los trabajadores exigen salarios más altos y jornadas más cortas.
Lo siento, pero he olvidado su nombre.
La luna brillaba tanto que podíamos ver el camino con claridad.
Nuestro colegio tiene una gran biblioteca y un gimnasio moderno.
La comida estaba deliciosa y el servicio fue excelente.
Se me ha roto el móvil, así que no puedo enviarte las fotos.
El cantante dio un concierto ante cincuenta mil personas.
Algunos animales duermen durante todo el invierno.
¿Quieres venir al cine con nosotros esta noche?
El viento ha derribado varios árboles en el parque.
Mi abuelo fue pescador durante casi toda su vida.
Los resultados del experimento fueron muy sorprendentes.
El mercado está más animado los sábados por la mañana.
Lleva esperando tu respuesta desde ayer.
La habitación del hotel era pequeña, pero limpia y tranquila.
En primavera los campos están verdes y llenos de flores.
La empresa anunciará sus nuevos productos la semana que viene.
Mi hija ha aprendido a leer y a escribir este año.
La panadería cierra pronto los domingos.
Vamos a pintar el dormitorio de azul.
La historia de esta región es larga y complicada.
Necesito un par de zapatos nuevos para el invierno.
El lago se congela en enero y la gente patina sobre el hielo.
Vienen turistas de todo el mundo para ver la catedral.
La enfermera le tomaba la temperatura al paciente cada hora.
Toda la familia se reunió alrededor de la mesa para la cena de Navidad.
El coche se averió en medio de la autopista.
Leer antes de dormir me ayuda a conciliar el sueño con más facilidad.
El río inundó el pueblo después de una semana de lluvias intensas.
El director agradeció a los empleados su excelente trabajo.
Tengo dos hermanos y una hermana.
La casa del final de la calle lleva años vacía.
La patata llegó a Europa desde América del Sur.
Quedamos delante del ayuntamiento a mediodía.
Escribió una carta a su mejor amiga, que vive en el extranjero.
Las montañas estaban ocultas tras unas espesas nubes grises.
Los estudiantes se están preparando para los exámenes finales.
Está prohibido fumar dentro del edificio.
El mar estaba en calma y el cielo era de un azul perfecto.
Muchas gracias por su ayuda y su paciencia.
